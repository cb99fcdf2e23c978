"""The roles a model plays: the champion's alerts are published, a challenger scores in the shadow.

Its would-be alerts go to a topic of their own, marked with the role, so that the feedback
process (docs/feedback.md) counts the precision and recall of both side by side.
"""

CHAMPION = "champion"
CHALLENGER = "challenger"
ROLES = (CHAMPION, CHALLENGER)
