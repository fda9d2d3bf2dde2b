// Stops the run's control plane and removes its data, whatever the tests' outcome.
export default async function globalTeardown(): Promise<void> {
  const controlPlane = globalThis.bunkerControlPlane;
  globalThis.bunkerControlPlane = undefined;
  if (controlPlane !== undefined) await controlPlane.stop();
}
