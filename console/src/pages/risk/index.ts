import { Warning } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "risk-cases", path: "/risk/cases", title: "风控案件", group: "风控", icon: Warning,
    operation: "GET /admin/risk/cases", menu: true, order: 60, component: () => import("./RiskCasesView.vue"),
  },
];
