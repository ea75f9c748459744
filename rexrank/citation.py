"""How to cite ReXrank: one BibTeX entry for the dataset card, the evaluate modules and the Space."""

REXRANK_CITATION = """\
@article{zhang2024rexrank,
  title   = {ReXrank: A Public Leaderboard for AI-Powered Radiology Report Generation},
  author  = {Zhang, Xiaoman and Zhou, Hong-Yu and Yang, Xiaoli and Banerjee, Oishi and Acosta, Juli{\\'a}n N. and
             Miller, Josh and Huang, Ouwen and Rajpurkar, Pranav},
  journal = {arXiv preprint arXiv:2411.15122},
  year    = {2024}
}
"""
REXRANK_HOMEPAGE = "https://rajpurkarlab.github.io/ReXrank/"
