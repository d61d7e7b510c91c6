// Loaded once per page by Shopify for the "Try-on button" app block (schema "javascript").
// Keeps every block's <try-on-button> in step with the product form, so picking another colour
// changes the garment to that variant's image; gives the buttons the app embed's proxy and
// language; marks buttons in the theme editor with `design-mode` (an example result, no proxy
// call); drops the app embed's floating button where a block already shows one; and loads the
// widget itself when the merchant left the embed off.
// Kept small on purpose: theme-check warns above 10 KB of app block JavaScript.
(function () {
  'use strict';
  if (window.__tryonBlock) return;
  window.__tryonBlock = true;

  var PRODUCT_FORM_ID = 'form[action*="/cart/add"] [name="id"]';

  function variantImages(button) {
    var script = document.getElementById(button.getAttribute('data-variant-images'));
    if (!script) return null;
    try {
      return JSON.parse(script.textContent);
    } catch (error) {
      return null;
    }
  }

  // The theme's product form is the truth: themes update its `id` field on every variant change.
  function selectedVariantId(button) {
    var section = button.closest('.shopify-section');
    var field = (section && section.querySelector(PRODUCT_FORM_ID)) || document.querySelector(PRODUCT_FORM_ID);
    if (field && field.value) return field.value;
    return new URLSearchParams(window.location.search).get('variant');
  }

  function syncGarments() {
    var buttons = document.querySelectorAll('try-on-button[data-variant-images]');
    Array.prototype.forEach.call(buttons, function (button) {
      var images = variantImages(button);
      var id = selectedVariantId(button);
      var image = images && id ? images[id] : null;
      if (image && button.getAttribute('garment') !== image) button.setAttribute('garment', image);
    });
  }

  // The app embed's script tag holds the shop-wide settings; without the embed, the App
  // Proxy's default path is the proxy.
  function applyShopSettings() {
    var loader = document.querySelector('script[data-tryon-loader]');
    var proxy = (loader && loader.getAttribute('data-proxy')) || '/apps/tryon';
    var locale = loader && loader.getAttribute('data-locale');
    Array.prototype.forEach.call(document.querySelectorAll('.tryon-block try-on-button'), function (button) {
      if (!button.hasAttribute('proxy')) button.setAttribute('proxy', proxy);
      if (locale && !button.hasAttribute('locale')) button.setAttribute('locale', locale);
    });
  }

  function markDesignMode() {
    if (!(window.Shopify && window.Shopify.designMode)) return;
    Array.prototype.forEach.call(document.querySelectorAll('try-on-button:not([design-mode])'), function (button) {
      button.setAttribute('design-mode', '');
    });
  }

  function dropFloatingButton() {
    if (!document.querySelector('.tryon-block try-on-button')) return;
    Array.prototype.forEach.call(document.querySelectorAll('try-on-button[floating]'), function (button) {
      button.remove();
    });
  }

  function ensureLoader() {
    if (document.querySelector('script[data-tryon-loader]') || window.customElements.get('try-on-button')) return;
    var block = document.querySelector('.tryon-block[data-tryon-loader]');
    if (!block) return;
    var script = document.createElement('script');
    script.src = block.getAttribute('data-tryon-loader');
    script.async = true;
    script.setAttribute('data-tryon-loader', '');
    script.setAttribute('data-proxy', '/apps/tryon');
    document.head.appendChild(script);
  }

  function refresh() {
    applyShopSettings();
    markDesignMode();
    dropFloatingButton();
    syncGarments();
  }

  // Themes update the `id` field in their own change handlers, sometimes asynchronously:
  // read it after they ran.
  function refreshSoon() {
    window.setTimeout(refresh, 0);
  }

  function start() {
    ensureLoader();
    refresh();
    ['change', 'input', 'variant:change', 'variant:update', 'shopify:section:load'].forEach(function (type) {
      document.addEventListener(type, refreshSoon);
    });
    window.addEventListener('popstate', refreshSoon);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
