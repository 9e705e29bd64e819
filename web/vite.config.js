import { defineConfig } from 'vite';

// Built into web/dist, which `vidmocap serve` serves at `/`.
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
});
