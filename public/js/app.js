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

// Forms marked data-confirm (refund, cancel, delete) ask the server what they will do — the same summary the
// confirmation page shows without JavaScript — and show it in a dialog; "Confirm" sends the form with confirmed=1.
// A refusal (or no dialog support) falls back to the plain submit, so the server shows the page as without JS.
document.addEventListener('DOMContentLoaded', () => {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', async (event) => {
      if (form.dataset.confirmed === '1' || typeof HTMLDialogElement !== 'function') return;
      event.preventDefault();
      let summary = null;
      try {
        const res = await fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form)), credentials: 'same-origin', headers: { Accept: 'text/html' } });
        if (res.ok) summary = new DOMParser().parseFromString(await res.text(), 'text/html').querySelector('[data-confirm-summary]');
      } catch { /* network trouble: the plain submit below shows what happened */ }
      if (!summary) {
        form.dataset.confirmed = '1';
        form.submit();
        return;
      }
      const dialog = document.createElement('dialog');
      dialog.className = 'confirm-dialog';
      dialog.setAttribute('aria-labelledby', 'confirm-dialog-title');
      dialog.append(document.importNode(summary, true));
      const heading = dialog.querySelector('h1');
      if (heading) heading.id = 'confirm-dialog-title';
      const confirmLabel = summary.ownerDocument.querySelector('form [name=confirmed] ~ button[type=submit]')?.textContent ?? 'Confirm';
      const actions = document.createElement('div');
      actions.className = 'actions';
      const yes = document.createElement('button');
      yes.type = 'button';
      yes.className = 'danger';
      yes.textContent = confirmLabel;
      const no = document.createElement('button');
      no.type = 'button';
      no.className = 'secondary';
      no.textContent = 'No, go back';
      actions.append(yes, no);
      dialog.append(actions);
      document.body.append(dialog);
      dialog.addEventListener('close', () => dialog.remove());
      no.addEventListener('click', () => dialog.close());
      yes.addEventListener('click', () => {
        yes.disabled = true;
        const confirmed = document.createElement('input');
        confirmed.type = 'hidden';
        confirmed.name = 'confirmed';
        confirmed.value = '1';
        form.append(confirmed);
        form.dataset.confirmed = '1';
        form.submit();
      });
      dialog.showModal();
      no.focus();
    });
  }
});

// The print view's Print button works only with JavaScript; without it the hint names the browser's command.
document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('button[data-print]')) {
    button.hidden = false;
    button.addEventListener('click', () => window.print());
    for (const hint of document.querySelectorAll('[data-print-hint]')) hint.hidden = true;
  }
});

// A refused action is shown next to its control, often far down a long page: bring it into view, with the first
// field it marks focused (the message itself when it marks none).
document.addEventListener('DOMContentLoaded', () => {
  const refused = document.querySelector('.action-error');
  if (!refused) return;
  const invalid = refused.closest('form, section')?.querySelector('[aria-invalid="true"]');
  const target = invalid ?? refused;
  if (!invalid) refused.tabIndex = -1;
  target.scrollIntoView({ block: 'center' });
  target.focus({ preventScroll: true });
});

// A form marked data-keeps="id" (the review step's voucher) reloads the page without another form's field (the
// comment typed for the order): its text is kept for the next page and put back there if the field is empty.
document.addEventListener('DOMContentLoaded', () => {
  let store = null;
  try { store = window.sessionStorage; } catch { /* storage switched off: nothing is kept */ }
  if (!store) return;
  for (const form of document.querySelectorAll('form[data-keeps]')) {
    const field = document.getElementById(form.dataset.keeps);
    if (!field) continue;
    const key = `orderflow.kept.${field.id}`;
    const kept = store.getItem(key);
    store.removeItem(key);
    if (kept !== null && !field.value) field.value = kept;
    form.addEventListener('submit', () => { if (field.value) store.setItem(key, field.value); });
  }
});
