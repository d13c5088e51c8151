import Consul from 'consul';

/** CONSUL_HTTP_ADDR as Consul's own tools read it: "host:port" or a URL. */
export function consulClient(address: string): Consul {
  const url = new URL(/^https?:\/\//.test(address) ? address : `http://${address}`);
  return new Consul({
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 8500)),
    secure: url.protocol === 'https:',
  });
}
