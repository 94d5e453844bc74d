// Loaded between require.js and the ipywidgets HTML manager (nb_ipywidgets_js in _config.yml),
// on pages that embed widgets.
(function () {
  // Each AMD module of the manager asks for the widgets' icon fonts beside its own address,
  // which require.js derives from the page's folder (notebooks/@jupyter-widgets/...). Map the
  // modules into the vendored folder, where book/vendor.py puts the fonts.
  var manager = document.currentScript.src.replace(/[^/]*$/, "") + "offline/html-manager/";
  require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": manager.slice(0, -1),
      "@jupyter-widgets/html-manager": manager + "html-manager",
      "@jupyter-widgets/controls": manager + "controls",
      "@jupyter-widgets/base": manager + "base",
    },
  });

  // The widgets typeset their labels with MathJax 2's MathJax.Hub.Queue; the book loads
  // MathJax 3, which has no Hub. Forward those calls to MathJax 3 once it has started.
  // (MathJax is loaded with `defer`, so it is in place by DOMContentLoaded, before the
  // manager renders the widgets on `load`.)
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) return;
    mathjax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined; // ["Typeset", MathJax.Hub, element]
        mathjax.startup.promise.then(function () {
          return mathjax.typesetPromise(element ? [element] : undefined);
        });
      },
    };
  });
})();
