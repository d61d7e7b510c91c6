/* <try-on-button> loader: the only script a product page fetches up front.
 * It defines the element and draws its button at once, inside a shadow root, at its final size.
 * The widget itself (wasm, JS glue, CSS) is fetched only on intent: the pointer enters or focus
 * reaches the button, a click, or, with the `preload` attribute, when the browser idles after load.
 * `cargo xtask dist` replaces the __…__ placeholders with content-hashed file names that sit next
 * to this file, so every URL is resolved against this script's own URL. */
(() => {
  const me = document.currentScript; // only readable now, while the script first runs
  const here = (me && me.src) || location.href;
  const at = (name) => new URL(name, here).href;
  // The button's label per language, drawn before the wasm (and its i18n tables) exist.
  // A Rust test keeps these equal to the tables' ButtonLabel.
  const LABELS = { en: "Try it on", de: "Anprobieren", fr: "Essayer", es: "Pruébatelo", ja: "試着する", pt: "Experimentar" };
  // Every language's sentences but English's (which the wasm carries), fetched with the wasm:
  // a shopper downloads only her own table.
  const TABLES = { de: "__LOCALE_DE__", fr: "__LOCALE_FR__", es: "__LOCALE_ES__", ja: "__LOCALE_JA__", pt: "__LOCALE_PT__" };
  const CSS =
    ":host{display:inline-block;vertical-align:middle;font-family:var(--tryon-font)}" +
    ":host([hidden]){display:none}" +
    "button{all:initial;box-sizing:border-box;display:flex;align-items:center;justify-content:center;" +
    "height:44px;min-width:44px;padding:0 20px;border-radius:var(--tryon-radius,8px);" +
    "background:var(--tryon-accent,#1a1a1a);color:var(--tryon-accent-text,#fff);" +
    "font-family:inherit;font-size:16px;font-weight:600;line-height:1;white-space:nowrap;cursor:pointer}" +
    "button:hover{filter:brightness(1.2)}" +
    "button:focus-visible{outline:3px solid var(--tryon-accent,#1a1a1a);outline-offset:2px}" +
    "button[aria-busy=true]{cursor:progress}" +
    // The widget marks the button when try-on cannot work on this page (issue 13).
    "button[aria-disabled=true]{opacity:.5;cursor:default}" +
    // Scoped to the button: the dialog shares this shadow root and has icons of its own.
    "button>svg{display:none;width:24px;height:24px;flex:none}" +
    // `floating` (the Shopify app embed's setting): a corner button clear of the notch and home
    // bar; on a phone a 56px round icon, so it hides no text or price behind a wide label.
    ":host([floating]){position:fixed;z-index:2147483000;" +
    "right:calc(var(--tryon-floating-side,16px) + env(safe-area-inset-right,0px));" +
    "bottom:calc(var(--tryon-floating-bottom,16px) + env(safe-area-inset-bottom,0px))}" +
    ":host([floating]) button{box-shadow:0 4px 14px rgba(0,0,0,.28);border-radius:var(--tryon-radius,28px)}" +
    "@media (max-width:640px){:host([floating]) button{width:56px;height:56px;padding:0;border-radius:50%}" +
    ":host([floating]) button>svg{display:block}" +
    ":host([floating]) button>span{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}}" +
    "@media print{:host([floating]){display:none}}";
  // A coat hanger: the compact floating button's face.
  const ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 7.5a2 2 0 1 1 2-2M12 7.5v1.2L2.8 15.3a1.2 1.2 0 0 0 .7 2.2h17a1.2 1.2 0 0 0 .7-2.2L12 8.7" ' +
    'fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>';

  let glue; // one download and one wasm instance for every button on the page
  const runtime = () =>
    (glue ||= import(at("__WIDGET_JS__"))
      .then(async (m) => (await m.default({ module_or_path: at("__WIDGET_WASM__") }), m))
      .catch((e) => {
        glue = null; // a later intent tries again
        throw e;
      }));

  const tables = {}; // one download per language for every button on the page
  const table = (lang) =>
    TABLES[lang] &&
    (tables[lang] ||= fetch(at(TABLES[lang]))
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status} for the ${lang} sentences`);
        return r.json();
      })
      .catch((e) => {
        tables[lang] = null; // a later intent tries again
        throw e;
      }));

  const language = (el) =>
    [el.getAttribute("locale"), document.documentElement.lang]
      .map((tag) => (tag || "").split(/[-_]/)[0].toLowerCase())
      .find((tag) => LABELS[tag]) || "en";

  class TryOnButton extends HTMLElement {
    constructor() {
      super();
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML = `<style>${CSS}</style><button part="button" type="button">${ICON}<span></span></button><div></div>`;
      this.b = root.querySelector("button");
      this.l = root.querySelector("span");
      this.c = root.querySelector("div");
      const intent = () => this.load();
      this.b.addEventListener("pointerenter", intent);
      this.b.addEventListener("focus", intent);
      this.b.addEventListener("click", () => {
        if (this.w) return this.w.open();
        this.o = 1; // open as soon as the widget is mounted
        this.b.setAttribute("aria-busy", "true");
        this.load();
      });
    }

    connectedCallback() {
      this.l.textContent = this.getAttribute("label") || LABELS[language(this)];
      if (this.hasAttribute("preload")) {
        const idle = () => (self.requestIdleCallback || setTimeout)(() => this.load());
        document.readyState == "complete" ? idle() : addEventListener("load", idle, { once: true });
      }
    }

    disconnectedCallback() {
      // Frees the Rust side: unmounts the dialog, aborts uploads, closes streams, stops the worker.
      if (this.w) this.w.free();
      this.w = this.p = null;
    }

    load() {
      const locale = language(this);
      return (this.p ||= Promise.all([runtime(), this.css(), table(locale)])
        .then(([m, , sentences]) => {
          if (!this.isConnected || this.w) return;
          const options = { proxy: new URL(here).origin, worker: at("__WORKER_JS__"), locale, table: sentences };
          this.w = m.mount(this, this.c, options);
          if (this.o) this.w.open();
        })
        .catch((e) => {
          this.p = null;
          console.error("try-on-button: the widget could not load", e);
        })
        .finally(() => {
          this.o = 0;
          this.b.removeAttribute("aria-busy");
        }));
    }

    css() {
      return (this.s ||= new Promise((done) => {
        const link = document.createElement("link");
        link.rel = "stylesheet";
        link.href = at("__WIDGET_CSS__");
        link.onload = link.onerror = done;
        this.shadowRoot.prepend(link);
      }));
    }
  }

  customElements.get("try-on-button") || customElements.define("try-on-button", TryOnButton);
})();
