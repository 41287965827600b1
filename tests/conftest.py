import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# The commands' cache (derive.cache) of this run, not the user's: every test starts it empty,
# and commands run twice read it, as they would for a user.
os.environ["DERIVE_CACHE_DIR"] = tempfile.mkdtemp(prefix="derive-test-cache-")
