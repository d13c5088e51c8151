// The run viewer's build (npm run build:ui): a static bundle the orchestrator serves at /ui.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./', import.meta.url)),
  base: '/ui/',
  // No dev server, no public dir: everything the page loads is in src/ and ends up hashed in assets/.
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The page's CSP allows scripts from /ui only; the polyfill would be one more chunk for browsers
    // that all have modulepreload now.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1_500,
    rollupOptions: {
      // React Flow marks itself "use client" for server-component frameworks; a static bundle has no server side.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
