import { UserFilled } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "staff", path: "/staff", title: "员工与权限", group: "系统", icon: UserFilled,
    operation: "GET /admin/staff", menu: true, order: 95, component: () => import("./StaffView.vue"),
  },
];
