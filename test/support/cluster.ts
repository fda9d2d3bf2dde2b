// The test run's control plane as seen from a test file: its kubeconfig path and a
// @kubernetes/client-node KubeConfig loaded from it.
import { KubeConfig } from '@kubernetes/client-node';
import { testKubeconfigPath } from './kubectl.js';

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly runId: string;
}

export function testCluster(): TestCluster {
  const kubeconfigPath = testKubeconfigPath();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { kubeconfigPath, kubeConfig, runId: process.env['BUNKER_TEST_RUN_ID'] ?? '' };
}
