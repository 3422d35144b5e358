// The console: sign in with an API key, then one view per tab.
import { allSources, describe, forgetKey, storedKey, storeKey, type Source } from "./api";
import { CostView } from "./cost";
import { h, replace } from "./dom";
import { EnergyView } from "./energy";
import { OverviewView } from "./overview";
import { RollupsView } from "./rollups";
import { SessionsView } from "./sessions";
import "./style.css";

const signin = document.getElementById("signin")!;
const form = document.getElementById("signin-form") as HTMLFormElement;
const keyInput = document.getElementById("key") as HTMLInputElement;
const signinError = document.getElementById("signin-error")!;
const tabs = document.getElementById("tabs")!;
const views = document.getElementById("views")!;
const signout = document.getElementById("signout") as HTMLButtonElement;

interface Tab {
  id: string;
  label: string;
  el: HTMLElement;
  show(): void;
  hide?(): void;
}

let current: Tab[] = [];

function signedOut(message = ""): void {
  for (const t of current) t.hide?.();
  current = [];
  replace(tabs);
  replace(views);
  tabs.hidden = true;
  signout.hidden = true;
  signin.hidden = false;
  signinError.textContent = message;
  signinError.hidden = !message;
  keyInput.value = "";
  keyInput.focus();
}

async function signIn(key: string): Promise<void> {
  let sources: Source[];
  try {
    sources = await allSources(key);
  } catch (e) {
    forgetKey();
    signedOut(describe(e));
    return;
  }
  storeKey(key);
  keyInput.value = "";
  signin.hidden = true;
  signinError.hidden = true;
  start(sources);
}

function start(sources: Source[]): void {
  const sites = [...new Set(sources.map((s) => s.site_id).filter((s): s is string => !!s))].sort();
  const energy = new EnergyView(sources, sites);
  const cost = new CostView(sources, sites);
  const sessions = new SessionsView();
  const rollups = new RollupsView();
  const overview: OverviewView = new OverviewView(sources, sites, (value) => {
    select("energy");
    energy.select(value);
  });
  let energyLoaded = false;
  let costLoaded = false;
  let sessionsLoaded = false;
  current = [
    { id: "overview", label: "Overview", el: overview.el, show: () => overview.show(), hide: () => overview.stop() },
    { id: "energy", label: "Energy", el: energy.el, show: () => { if (!energyLoaded) { energyLoaded = true; void energy.load(); } } },
    { id: "cost", label: "Cost", el: cost.el, show: () => { if (!costLoaded) { costLoaded = true; void cost.load(); } } },
    { id: "sessions", label: "Sessions", el: sessions.el, show: () => { if (!sessionsLoaded) { sessionsLoaded = true; void sessions.load(); } } },
    { id: "rollups", label: "Rollups", el: rollups.el, show: () => void rollups.load() },
  ];
  replace(tabs);
  replace(views);
  for (const t of current) {
    const button = h("button", {
      type: "button",
      role: "tab",
      id: "tab-" + t.id,
      "aria-controls": "panel-" + t.id,
      "aria-selected": "false",
      tabindex: -1,
      onclick: () => select(t.id),
      onkeydown: (e: Event) => moveFocus(e as KeyboardEvent),
    }, t.label);
    tabs.append(button);
    views.append(h("div", { role: "tabpanel", id: "panel-" + t.id, "aria-labelledby": "tab-" + t.id, hidden: true }, t.el));
  }
  tabs.hidden = false;
  signout.hidden = false;
  select("overview");
}

function select(id: string): void {
  for (const t of current) {
    const on = t.id === id;
    const tab = document.getElementById("tab-" + t.id)!;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    const panel = document.getElementById("panel-" + t.id)!;
    if (on) {
      panel.hidden = false;
      t.show();
    } else {
      if (!panel.hidden) t.hide?.();
      panel.hidden = true;
    }
  }
}

// The tab list's keyboard: arrows, Home and End move between tabs.
function moveFocus(e: KeyboardEvent): void {
  const list = [...tabs.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const i = list.indexOf(e.target as HTMLButtonElement);
  let next = -1;
  if (e.key === "ArrowRight") next = (i + 1) % list.length;
  else if (e.key === "ArrowLeft") next = (i - 1 + list.length) % list.length;
  else if (e.key === "Home") next = 0;
  else if (e.key === "End") next = list.length - 1;
  if (next < 0) return;
  e.preventDefault();
  list[next].focus();
  list[next].click();
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (key) void signIn(key);
});

signout.addEventListener("click", () => {
  forgetKey();
  sessionStorage.clear();
  signedOut();
});

const key = storedKey();
if (key) void signIn(key);
else signedOut();
