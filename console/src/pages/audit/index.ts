import { Document } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "audit", path: "/audit", title: "操作日志", group: "运营", icon: Document,
    operation: "GET /admin/audit", menu: true, order: 80, component: () => import("./AuditLogView.vue"),
  },
];
