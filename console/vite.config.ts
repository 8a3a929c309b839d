import vue from "@vitejs/plugin-vue";
import Components from "unplugin-vue-components/vite";
import { ElementPlusResolver } from "unplugin-vue-components/resolvers";
import { defineConfig } from "vite";

// The API the dev server forwards to (`make console-dev`): the local stack by default.
const api = process.env.MALL_API ?? "http://127.0.0.1:3000";
const apiPrefixes = ["/admin", "/rules", "/products", "/openapi.json"];

export default defineConfig({
  base: "/console/",
  plugins: [
    vue(),
    // Element Plus components and their styles imported where used, not the whole library.
    Components({ resolvers: [ElementPlusResolver()], dts: false }),
  ],
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: Object.fromEntries(apiPrefixes.map((prefix) => [prefix, { target: api, changeOrigin: false }])),
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // Element Plus is left to the per-page chunks: each page loads the components it uses, and
        // the first load carries only what the shell and the login page need.
        manualChunks(id) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "echarts";
          if (id.includes("node_modules/vue") || id.includes("node_modules/@vue") || id.includes("node_modules/pinia")) return "vue";
          return undefined;
        },
      },
    },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
  },
});
