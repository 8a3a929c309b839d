import type { Component } from "vue";

import type { OperationKey } from "../api/roles";

/** A page of the console: where it sits in the menu, and the operation it needs. */
export interface PageEntry {
  /** Route name, unique. */
  name: string;
  /** Path under /console, e.g. "/promoters" or "/promoters/:userId" (a detail page, not in the menu). */
  path: string;
  title: string;
  /** Menu group title (e.g. "推广员"); pages without one sit at the top level. */
  group?: string;
  icon?: Component;
  /** The page shows (and its menu entry) only to roles the contract allows for this operation. */
  operation: OperationKey;
  /** In the menu; detail pages are reached from their list. */
  menu?: boolean;
  /** Menu order (smaller first). */
  order?: number;
  component: () => Promise<unknown>;
}
