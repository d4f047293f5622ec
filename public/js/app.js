// Progressive enhancement only: every page works without this file.
document.addEventListener('DOMContentLoaded', () => {
  // Forms marked data-once disable their submit button after the first submit (the server is idempotent anyway).
  const onceForms = document.querySelectorAll('form[data-once]');
  for (const form of onceForms) {
    form.addEventListener('submit', () => {
      for (const b of form.querySelectorAll('button[type=submit]')) {
        b.disabled = true;
        b.setAttribute('aria-busy', 'true');
      }
    });
  }
  // Coming back with the Back button restores the page from the cache with its buttons still disabled
  // (e.g. after a declined card): enable them again so the shopper can retry.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    for (const form of onceForms) {
      for (const b of form.querySelectorAll('button[type=submit]')) {
        b.disabled = false;
        b.removeAttribute('aria-busy');
      }
    }
  });
  // A checkbox with data-toggles hides the named block while checked (e.g. "deliver to billing address").
  for (const box of document.querySelectorAll('input[data-toggles]')) {
    const target = document.getElementById(box.dataset.toggles);
    if (!target) continue;
    box.setAttribute('aria-controls', target.id);
    const sync = () => { target.hidden = box.checked; };
    box.addEventListener('change', sync);
    sync();
  }
});
