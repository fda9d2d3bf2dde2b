// Jest loads global setup outside its ESM module system, where our TypeScript sources (ESM,
// imports spelled `.js`) cannot be required; tsx loads them as the ESM they are.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { setUpControlPlane } = await tsImport('./control-plane-setup.ts', import.meta.url);
  await setUpControlPlane();
}
