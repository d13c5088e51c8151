import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { UiBundle } from '../ui/bundle.ts';

// The page loads only its own files and talks only to this API; nothing inline, nothing framed.
// 'self' in img-src for the favicon, data: for images the graph library draws as data URLs.
const pageHeaders = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

// Vite names every asset by its content hash: a changed file is a new name, so cache it for good.
const immutable = 'public, max-age=31536000, immutable';

/**
 * GET /ui: the run viewer, a static bundle (services/orchestrator/ui) served by this process. It
 * needs no key (it is only files); every API call the page makes carries the user's key and meets
 * the API's own scope checks. Paths that are not files are the page's own routes (/ui/runs/<id>):
 * they get index.html, which routes on the client.
 */
export const uiRoutes: FastifyPluginAsync<{ bundle?: UiBundle }> = async (app, opts) => {
  const bundle = opts.bundle ?? new UiBundle();
  app.addHook('onReady', async () => {
    await bundle.prepare(app.log);
  });

  const send = async (path: string, reply: FastifyReply) => {
    void reply.headers(pageHeaders);
    const now = await bundle.get(reply.log);
    if (now.state !== 'ready') {
      const message =
        now.state === 'building'
          ? `The run viewer is being built (since ${now.since.toISOString()}); this page works in a few seconds.`
          : `The run viewer could not be built: ${now.reason}`;
      return reply
        .status(503)
        .header('retry-after', now.state === 'building' ? '5' : '60')
        .type('text/plain; charset=utf-8')
        .send(message);
    }
    const file = now.files.get(path);
    if (file) {
      return reply
        .header('cache-control', path.startsWith('assets/') ? immutable : 'no-cache')
        .type(file.type)
        .send(file.body);
    }
    // A missing asset is a 404 (an old page asking for a file a newer build renamed), not the page.
    if (path.startsWith('assets/') || /\.[a-z0-9]+$/i.test(path)) {
      return reply.status(404).type('text/plain; charset=utf-8').send(`no file ${path} in the run viewer`);
    }
    const index = now.files.get('index.html')!;
    return reply.header('cache-control', 'no-cache').type(index.type).send(index.body);
  };

  app.get('/ui', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/'));
  app.get<{ Params: { '*': string } }>('/ui/*', { schema: { hide: true } }, async (request, reply) =>
    send(request.params['*'] || 'index.html', reply),
  );
};
