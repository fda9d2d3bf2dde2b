// Serves /metrics for Prometheus and /healthz for probes on the metrics address.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export function startMetricsServer(registry: Registry, host: string, port: number, healthy: () => boolean, beforeScrape: () => void = () => undefined): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      beforeScrape();
      registry.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': registry.contentType }); res.end(body); },
        (error: unknown) => { res.writeHead(500); res.end(error instanceof Error ? error.message : 'metrics failed'); },
      );
      return;
    }
    if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503);
      res.end(ok ? 'ok' : 'unhealthy');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
