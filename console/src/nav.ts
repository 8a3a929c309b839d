/**
 * The console's pages, gathered from each area's `src/pages/<area>/index.ts` (an area adds its pages
 * there and nowhere else). A page and its menu entry show only when the signed-in admin's roles may
 * call the page's operation (the contract's x-mall-roles), so staff roles add or hide entries
 * without touching this list.
 */
import type { PageEntry } from "./pages/types";

const areas = import.meta.glob<{ pages: PageEntry[] }>("./pages/*/index.ts", { eager: true });

export const PAGES: PageEntry[] = Object.values(areas)
  .flatMap((area) => area.pages)
  .sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.title.localeCompare(b.title, "zh-CN"));

export interface MenuGroup {
  title: string | null;
  entries: PageEntry[];
}

/** The menu: top-level pages first, then each group in the order of its first page. */
export function menu(pages: PageEntry[]): MenuGroup[] {
  const groups: MenuGroup[] = [];
  for (const page of pages.filter((p) => p.menu)) {
    const title = page.group ?? null;
    let group = groups.find((g) => g.title === title);
    if (!group) {
      group = { title, entries: [] };
      groups.push(group);
    }
    group.entries.push(page);
  }
  return groups;
}
