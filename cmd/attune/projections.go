package main

import "github.com/spf13/cobra"

func projectionsCommand(cfg *config) *cobra.Command {
	return &cobra.Command{Use: "projections", Short: "Manage the read models"}
}
