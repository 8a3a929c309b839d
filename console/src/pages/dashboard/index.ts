import { DataAnalysis } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "dashboard", path: "/dashboard", title: "数据看板", icon: DataAnalysis, operation: "GET /admin/dashboard",
    menu: true, order: 0, component: () => import("./DashboardView.vue"),
  },
];
