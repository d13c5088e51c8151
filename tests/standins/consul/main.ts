// The hashicorp/consul stand-in's process: the Consul double on CONSUL_DOUBLE_PORT (8500) of every
// address. It is started with Consul's own arguments (compose: `agent -server -bootstrap-expect=1
// -ui -client=0.0.0.0`) and Consul's environment (CONSUL_BIND_INTERFACE, CONSUL_LOCAL_CONFIG):
// they are accepted and ignored, since the double has one node, no cluster and no configuration.
import { startConsulDouble } from '../../doubles/consul-double.ts';

const port = Number(process.env.CONSUL_DOUBLE_PORT ?? 8500);
const args = process.argv.slice(2);
const consul = await startConsulDouble({ cleanup: false, host: process.env.CONSUL_DOUBLE_HOST ?? '0.0.0.0', port });
console.log(`consul stand-in (the project's Consul double) on :${port}; ignored Consul arguments: ${args.join(' ') || '(none)'}`);

// PID 1 in the container: without handlers, SIGTERM from `docker stop` would be ignored for 10 s.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void consul.stop().then(() => process.exit(0));
  });
}
