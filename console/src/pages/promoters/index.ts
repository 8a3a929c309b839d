import { Coin, Connection, User } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "promoters", path: "/promoters", title: "推广员", group: "推广员", icon: User,
    operation: "GET /admin/promoters", menu: true, order: 20, component: () => import("./PromotersView.vue"),
  },
  {
    name: "promoter", path: "/promoters/:userId", title: "推广员详情", group: "推广员",
    operation: "GET /admin/promoters/{user_id}", menu: false, order: 21,
    component: () => import("./PromoterDetailView.vue"),
  },
  {
    name: "bindings", path: "/bindings", title: "客户绑定", group: "推广员", icon: Connection,
    operation: "GET /admin/customers/{user_id}/binding", menu: true, order: 22,
    component: () => import("./BindingsView.vue"),
  },
  {
    name: "adjustments", path: "/adjustments", title: "佣金调整复核", group: "推广员", icon: Coin,
    operation: "GET /admin/adjustments", menu: true, order: 23,
    component: () => import("./AdjustmentsView.vue"),
  },
];
