// The foundation's promise: tests talk to a real kube-apiserver and etcd started once per run
// by the global setup. Creates a CRD with kubectl, waits for it to be Established, then
// creates and reads a custom object with @kubernetes/client-node.
import { join } from 'node:path';
import { CustomObjectsApi, ApiextensionsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { testCluster } from '../support/cluster.js';
import { kubectl, runCommand } from '../support/kubectl.js';
import { waitFor } from '../support/wait-for.js';

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.foundation.bunker.dev
spec:
  group: foundation.bunker.dev
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              colour: { type: string, enum: [red, blue] }
`;

describe('the test control plane', () => {
  it('accepts a CRD from kubectl apply and serves its objects to @kubernetes/client-node', async () => {
    const { kubeConfig } = testCluster();
    const applied = await kubectl(['apply', '-f', '-'], { input: crd });
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/widgets.foundation.bunker.dev (created|configured|unchanged)/);

    const extensions = kubeConfig.makeApiClient(ApiextensionsV1Api);
    await waitFor('the CRD to be Established', async () => {
      const current = await extensions.readCustomResourceDefinition({ name: 'widgets.foundation.bunker.dev' });
      return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true ? true : undefined;
    });

    const objects = kubeConfig.makeApiClient(CustomObjectsApi);
    const target = { group: 'foundation.bunker.dev', version: 'v1', namespace: 'default', plural: 'widgets' };
    await waitFor('the new resource to be served', async () => {
      await objects.listNamespacedCustomObject(target);
      return true;
    });
    await objects.createNamespacedCustomObject({
      ...target,
      body: { apiVersion: 'foundation.bunker.dev/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { colour: 'red' } },
    });
    const read: unknown = await objects.getNamespacedCustomObject({ ...target, name: 'w1' });
    expect(read).toMatchObject({ metadata: { name: 'w1' }, spec: { colour: 'red' } });

    // The schema is enforced by the real apiserver, not by us.
    const bad = await kubectl(['apply', '-f', '-'], {
      input: 'apiVersion: foundation.bunker.dev/v1\nkind: Widget\nmetadata: { name: w2 }\nspec: { colour: green }\n',
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('Unsupported value: "green"');
  });

  it('is reachable by kubectl version and reports the pinned Kubernetes version', async () => {
    const version = await kubectl(['version', '-o', 'json']);
    expect(version.code).toBe(0);
    const parsed: unknown = JSON.parse(version.stdout);
    expect(parsed).toMatchObject({ serverVersion: { gitVersion: expect.stringMatching(/^v1\.\d+\.\d+$/) } });
  });

  it('runs helm from the built cache', async () => {
    const bin = process.env['BUNKER_CONTROL_PLANE_BIN'];
    expect(bin).toBeTruthy();
    const helm = await runCommand(join(bin ?? '', 'helm'), ['version', '--short']);
    expect(helm.code).toBe(0);
    expect(helm.stdout).toMatch(/^v3\.\d+\.\d+/);
  });

  it('has the run stamp written by the global setup', async () => {
    const { kubeConfig, runId } = testCluster();
    const map = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'bunker-test-run', namespace: 'default' });
    expect(map.data?.['runId']).toBe(runId);
  });
});
