import { CollectionTag, UserFilled } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "customers", path: "/customers", title: "用户管理", group: "用户", icon: UserFilled,
    operation: "GET /admin/customers", menu: true, order: 15, component: () => import("./CustomersView.vue"),
  },
  {
    name: "customer-tags", path: "/customer-tags", title: "用户标签", group: "用户", icon: CollectionTag,
    operation: "GET /admin/customer-tags", menu: true, order: 16, component: () => import("./TagsView.vue"),
  },
];
