// The one route of Grafana the stack uses: the compose healthcheck's GET /api/health.
import { createServer } from 'node:http';

createServer((req, res) => {
  if (req.url === '/api/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ database: 'ok', version: 'stand-in' }));
    return;
  }
  res.writeHead(404).end();
}).listen(3000, '0.0.0.0');
