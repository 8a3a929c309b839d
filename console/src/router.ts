import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";

import type { OperationKey } from "./api/roles";
import { PAGES } from "./nav";
import { useSession } from "./stores/session";

declare module "vue-router" {
  interface RouteMeta {
    /** The operation the page needs; the page is refused when the admin's roles may not call it. */
    operation?: OperationKey;
    title?: string;
    public?: boolean;
  }
}

const routes: RouteRecordRaw[] = [
  { path: "/login", name: "login", component: () => import("./views/LoginView.vue"), meta: { public: true, title: "登录" } },
  {
    path: "/",
    component: () => import("./layouts/ConsoleLayout.vue"),
    children: [
      { path: "", redirect: "/dashboard" },
      // Each page is its own chunk: the first load carries only the shell and the login page.
      ...PAGES.map((page) => ({
        path: page.path.slice(1),
        name: page.name,
        component: page.component as () => Promise<never>,
        meta: { operation: page.operation, title: page.title },
      })),
      { path: "forbidden", name: "forbidden", component: () => import("./views/ForbiddenView.vue"), meta: { title: "无权访问" } },
    ],
  },
  { path: "/:rest(.*)*", redirect: "/dashboard" },
];

export const router = createRouter({ history: createWebHistory(import.meta.env.BASE_URL), routes });

router.beforeEach((to) => {
  const session = useSession();
  if (to.meta.public) return true;
  if (!session.signedIn) return { name: "login", query: { next: to.fullPath } };
  if (to.meta.operation && !session.may(to.meta.operation)) return { name: "forbidden" };
  return true;
});

router.afterEach((to) => {
  document.title = `${to.meta.title ?? "商家管理后台"} · 分销商城`;
});
