// Progressive enhancement only: every page works without this file.
document.addEventListener('DOMContentLoaded', () => {
  // Forms marked data-once disable their submit button after the first submit (the server is idempotent anyway).
  for (const form of document.querySelectorAll('form[data-once]')) {
    form.addEventListener('submit', () => {
      for (const b of form.querySelectorAll('button[type=submit]')) b.disabled = true;
    });
  }
  // A checkbox with data-toggles hides the named block while checked (e.g. "deliver to billing address").
  for (const box of document.querySelectorAll('input[data-toggles]')) {
    const target = document.getElementById(box.dataset.toggles);
    const sync = () => { if (target) target.hidden = box.checked; };
    box.addEventListener('change', sync);
    sync();
  }
});
