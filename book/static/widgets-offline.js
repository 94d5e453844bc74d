// Loaded between require.js and the ipywidgets HTML manager (nb_ipywidgets_js in _config.yml).
// The manager asks for its icon fonts beside its own AMD module, whose address require.js
// derives from the page's folder (notebooks/@jupyter-widgets/html-manager/dist/...). Map the
// module to the vendored copy in _static/offline/html-manager, where book/vendor.py puts the fonts.
(function () {
  var staticDir = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": staticDir + "offline/html-manager" } });
})();
