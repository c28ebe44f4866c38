"""The one place that wires sources -> fd-table engine -> analysis, one module per way of looking.

Import the module you need (``fdleak.pipeline.logs``, ``.watch``, ``.census``): this
package imports none of them, so a command pays only for its own.
"""
