"""Where articles come from: a folder of fixture files, or a feed over HTTP."""
