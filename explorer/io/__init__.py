"""Files in and out: every source a set comes from, the vector and set stores, the caches, the exports."""
