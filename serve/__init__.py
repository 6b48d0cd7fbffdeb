"""``hostbook serve``: the live dashboard and the JSON API, local-first and authenticated."""
