"""`python -m fireside.engine.run_worker FD`: a model worker serving the socket at FD.

Kept apart from engine.worker so that module is imported once, under its own name.
"""

import sys
from multiprocessing.connection import Connection

from fireside.engine.worker import worker_main

worker_main(Connection(int(sys.argv[1])))
