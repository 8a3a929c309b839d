/**
 * Cursor paging as the API does it: each page answer carries `next_cursor` (absent on the last
 * page). The pager remembers the cursors of the pages seen so "previous" needs no offset.
 */
import { computed, ref, type Ref } from "vue";

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Pager<T> {
  items: Ref<T[]>;
  loading: Ref<boolean>;
  pageNumber: Ref<number>;
  hasNext: Ref<boolean>;
  hasPrevious: Ref<boolean>;
  /** Loads the first page (after a filter change). */
  reload: () => Promise<void>;
  next: () => Promise<void>;
  previous: () => Promise<void>;
}

export function usePager<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): Pager<T> {
  const items = ref<T[]>([]) as Ref<T[]>;
  const loading = ref(false);
  // cursors[i] is the cursor that loads page i (undefined for the first page).
  const cursors = ref<(string | undefined)[]>([undefined]);
  const index = ref(0);
  const nextCursor = ref<string | null>(null);

  async function load(at: number): Promise<void> {
    loading.value = true;
    try {
      const page = await fetchPage(cursors.value[at]);
      items.value = page.items;
      index.value = at;
      nextCursor.value = page.next_cursor ?? null;
      cursors.value = cursors.value.slice(0, at + 1);
      if (nextCursor.value) cursors.value.push(nextCursor.value);
    } finally {
      loading.value = false;
    }
  }

  return {
    items,
    loading,
    pageNumber: computed(() => index.value + 1),
    hasNext: computed(() => nextCursor.value !== null),
    hasPrevious: computed(() => index.value > 0),
    reload: () => {
      cursors.value = [undefined];
      return load(0);
    },
    next: () => (nextCursor.value ? load(index.value + 1) : Promise.resolve()),
    previous: () => (index.value > 0 ? load(index.value - 1) : Promise.resolve()),
  };
}
