// Replaced by the control-plane harness.
export default async function globalSetup(): Promise<void> {}
