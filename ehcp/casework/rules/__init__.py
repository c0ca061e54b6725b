"""The statutory rules, one module per area, each function citing its regulation.

- :mod:`.dates`: calendar arithmetic (weeks, months, "day 1 is the day served").
- :mod:`.assessment`: decision to assess (reg 5), decision not to issue (reg 10), draft and
  final plan (reg 13).
- :mod:`.review`: annual review (CFA s.44), under-5 reviews (CoP 9.178, policy), amendments
  (reg 22 and Devon CC 2022), phase transfer (reg 18).
- :mod:`.reassessment`: re-assessment (reg 27).
- :mod:`.advice`: advice required (reg 6) and the body's 6 weeks (reg 8).
- :mod:`.exceptions`: exception grounds (reg 5(4), 8(2), 10(4), 13(3), 27(3)).
"""
