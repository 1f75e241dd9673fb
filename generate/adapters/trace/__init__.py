"""The offline ``trace`` model: traces a retrieved reference into a pencil sketch; no key, no network."""
