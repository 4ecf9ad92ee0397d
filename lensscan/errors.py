"""The one exception type for mistakes a user can make.

The CLI turns a :class:`UserError` into one line on stderr and a non-zero exit; any other
exception is a programming error and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: a bad file, option or combination of inputs.

    The message is shown as is, on one line, so it should name the file or option and say
    what is wrong with it.
    """
