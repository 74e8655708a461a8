// Digit Inference Engine: the one classic (non-module) script. Browsers run it even on a page opened as a file,
// where module scripts, the model and the runtime cannot load: it then says how to serve the page instead.
'use strict';
if (location.protocol === 'file:') {
  document.getElementById('file-hint').hidden = false;
  document.getElementById('loading').hidden = true;
  document.getElementById('status').textContent = '';
  document.body.dataset.state = 'error';
  document.body.dataset.error = 'file';
}
