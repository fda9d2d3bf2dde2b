// See global-setup.mjs: the control plane lives in this (jest's parent) process.
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { tearDownControlPlane } = await tsImport('./control-plane-setup.ts', import.meta.url);
  await tearDownControlPlane();
}
