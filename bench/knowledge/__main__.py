from bench.knowledge.run import main

raise SystemExit(main())
