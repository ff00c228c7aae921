from bench.inference.run import main

raise SystemExit(main())
