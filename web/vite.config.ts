import { defineConfig } from 'vite';

// `vite build web` (part of `npm run build`): the page served by the gateway at `/`, built into
// dist/web next to the compiled gateway (src/common/web-page.ts serves it). Relative asset URLs
// keep the page working behind a reverse proxy that mounts the gateway under a path.
export default defineConfig({
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
  },
});
