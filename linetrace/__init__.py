"""linetrace: camera scanning and GS1 traceability for factory packing lines.

The distribution has three parts that share only the contract in
:mod:`linetrace.broker`: the edge agent (:mod:`linetrace.edge`), the central service
(:mod:`linetrace.central`) and the synthetic footage generator (:mod:`linetrace.synth`).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
