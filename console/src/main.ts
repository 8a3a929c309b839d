import "element-plus/theme-chalk/base.css";
import "./styles.css";

import { createPinia } from "pinia";
import { createApp } from "vue";

import { configureApi, loadConfig } from "./api";
import App from "./App.vue";
import { router } from "./router";
import { useSession } from "./stores/session";

async function start(): Promise<void> {
  const app = createApp(App);
  const pinia = createPinia();
  app.use(pinia);
  const session = useSession(pinia);
  const config = await loadConfig();
  configureApi({
    baseUrl: config.apiBaseUrl,
    token: () => session.token(),
    onUnauthenticated: () => {
      if (!session.signedIn) return;
      session.end(true);
      void router.push({ name: "login", query: { next: router.currentRoute.value.fullPath } });
    },
  });
  app.use(router);
  app.mount("#app");
}

void start();
