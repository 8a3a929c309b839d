/**
 * The signed-in admin. The token lives in memory and in this tab's sessionStorage (never
 * localStorage): closing the tab ends the session, a reload keeps it, and it expires when the
 * token does.
 */
import { defineStore } from "pinia";
import { computed, ref } from "vue";

import { OPERATION_ROLES, type OperationKey } from "../api/roles";

const STORAGE_KEY = "mall-console-session";

interface Stored {
  token: string;
  username: string;
  roles: string[];
  expiresAt: number;
}

function restore(): Stored | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    const stored = raw ? (JSON.parse(raw) as Stored) : null;
    return stored && stored.expiresAt > Date.now() ? stored : null;
  } catch {
    return null;
  }
}

export const useSession = defineStore("session", () => {
  const current = ref<Stored | null>(restore());
  const expiredNotice = ref(false);

  const signedIn = computed(() => current.value !== null && current.value.expiresAt > Date.now());
  const roles = computed(() => current.value?.roles ?? []);
  const username = computed(() => current.value?.username ?? "");

  function token(): string | null {
    if (current.value && current.value.expiresAt <= Date.now()) end(true);
    return current.value?.token ?? null;
  }

  function start(session: { token: string; username: string; roles: string[]; expiresInSeconds: number }): void {
    current.value = {
      token: session.token,
      username: session.username,
      roles: session.roles,
      expiresAt: Date.now() + session.expiresInSeconds * 1000,
    };
    expiredNotice.value = false;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(current.value));
  }

  /** Ends the session; `expired` says it ended by itself (the login page says so). */
  function end(expired = false): void {
    current.value = null;
    expiredNotice.value = expired;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  /** Whether the signed-in admin's roles may call `operation`, as the contract's x-mall-roles say. */
  function may(operation: OperationKey): boolean {
    const allowed: readonly string[] = OPERATION_ROLES[operation];
    return roles.value.some((role) => allowed.includes(role));
  }

  return { current, signedIn, roles, username, expiredNotice, token, start, end, may };
});
