// Progressive enhancement for /admin/orders/import: sends the chosen file as the raw request body (no multipart),
// then opens the run's results page. Without JavaScript the paste form still works.
(function () {
  var box = document.getElementById('import-upload');
  if (!box || !window.fetch) return;
  var input = document.getElementById('import-file');
  var channel = document.getElementById('import-file-channel');
  var button = document.getElementById('import-file-button');
  var status = document.getElementById('import-file-status');
  status.textContent = 'Choose a file.';
  input.addEventListener('change', function () { button.disabled = !input.files.length; });
  button.addEventListener('click', function () {
    var file = input.files[0];
    if (!file) return;
    var xml = /\.xml$/i.test(file.name) || /xml/.test(file.type);
    var q = new URLSearchParams({ filename: file.name, channel: channel.value, format: xml ? 'xml' : 'auto' });
    button.disabled = true;
    status.textContent = 'Importing ' + file.name + ' (' + Math.round(file.size / 1024) + ' kB)… large files take a while.';
    fetch('/admin/orders/import?' + q, {
      method: 'POST', body: file, credentials: 'same-origin',
      headers: { 'Content-Type': xml ? 'application/xml' : 'text/csv', 'X-CSRF-Token': box.dataset.csrf, Accept: 'application/json' },
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + res.status));
        window.location.href = body.location;
      });
    }).catch(function (e) {
      status.textContent = 'The import failed: ' + e.message;
      button.disabled = false;
    });
  });
})();
