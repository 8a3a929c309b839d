import { Ticket } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "coupon-templates", path: "/coupons", title: "优惠券", group: "营销", icon: Ticket,
    operation: "GET /admin/coupon-templates", menu: true, order: 55, component: () => import("./CouponsView.vue"),
  },
];
